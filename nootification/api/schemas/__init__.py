"""The API's marshmallow schemas: one module per blueprint, named as it is."""

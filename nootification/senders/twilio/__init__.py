"""Twilio: the SMS sender and the check that a callback is Twilio's, in one package."""

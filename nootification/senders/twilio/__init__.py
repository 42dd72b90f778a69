"""Twilio: its REST API as both channels use it (rest), the SMS and voice senders, the call's TwiML, and the
check that a callback is Twilio's, in one package."""

"""The staff wing: the loop with the people an alert reaches; it sends through delivery/ and reads services/.

claims          "I'm on it" and what happened (the outcome), through a link, a chat button or the API
escalation      a critical alert nobody claimed goes to the shop's next tier when due
claim_notices   the others' chat messages edited and follow-ups, outbound records written with the claim
receipts        what a phone reports of a message: arrived, opened
devices         a phone or browser registered as a contact point (web_push: its push subscription, VAPID)
device_notices  a new device told on the user's other channels (outbound records)
vendor_events   each outcome, as a signed event to the camera vendor (an outbound record)
sms_replies     staff's SMS replies (1: I'm on it, 2-5: the outcome), each answered by an outbound record
kinds           these four told to the delivery engine (delivery/kinds.py), by the app factory
"""

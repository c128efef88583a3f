"""110 contacts from real channels: SMS (with AML), ELS HTTPS, e-mail and fax-to-email, social media.

Here, under dispatch/, because each gateway ends in the dispatcher's own intake (`Dispatcher.intake_many`,
in process, as the web process takes REST intake): a contact is answered 2xx (or SMTP 250) only after the
incident, its evidence and their audit entries committed in one transaction.
"""

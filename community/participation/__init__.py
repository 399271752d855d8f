"""Taking part: claiming offers, registering for activities, check-in, and the staff screens.

``services`` holds every write (each one transaction, locks in the order the models document),
``selectors`` the reads, ``views``/``admin_views`` only parse, check permission and render.
"""

"""The staff dashboard (数据看板): charts of the club's numbers, in the Wagtail admin.

``selectors`` reads the rows of each chart (all aggregation in SQL, a fixed number of queries
per chart), ``catalogue`` says which chart needs which permission and how its tables look,
``charts`` draws inline SVG on the server (no JavaScript, no CDN), ``views`` checks the
permission, reads rows through a short-lived Redis cache and renders HTML or CSV.
``services`` and ``middleware`` record daily active members, the one history the dashboard
needs that no other table keeps.
"""

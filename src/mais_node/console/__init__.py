"""The console (DESIGN §12, issue 16): pages at ``/console`` for the people who use the node.

``people`` (accounts, sessions and the store port they live behind), ``accounts`` (passwords, second factor,
lockout) and ``sessions`` (timeouts, rotation, CSRF) know no web framework; ``web`` and the page modules are the
thin FastAPI layer that renders Jinja2 templates with GOV.UK Frontend.
"""

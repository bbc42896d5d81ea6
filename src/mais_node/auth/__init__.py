"""SMART on FHIR Backend Services for the node (DESIGN §2, §3): discovery, the token endpoint, the bearer check.

``mais_node.auth.services.build_auth`` wires it all; the web adapter is ``mais_node.api.routes.auth`` and the
bearer-check dependency ``mais_node.api.security``.
"""

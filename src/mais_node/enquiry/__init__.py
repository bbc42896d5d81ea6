"""The enquiry pipeline: validate, decide, match, release, respond (DESIGN §3)."""

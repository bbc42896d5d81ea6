"""Unit tests of the audit trail (DESIGN §7)."""

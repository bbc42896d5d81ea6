"""The organisations register and their systems (MAIS API catalogue; DESIGN §2, §3)."""

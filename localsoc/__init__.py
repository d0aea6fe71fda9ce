"""Local runtime: run the packs' playbooks on a laptop against a simulated SOC (no tenant, no API key)."""

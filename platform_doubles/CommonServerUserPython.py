"""CommonServerUserPython: empty on a fresh tenant; customers may add shared code here (it can override
CommonServerPython names), which is why content imports it after CommonServerPython."""

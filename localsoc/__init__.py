"""Local runtime: run the packs' playbooks on a laptop against a simulated SOC (no tenant, no API key).

The platform doubles (`demistomock`, `CommonServerPython`, `xsoar_session`) are imported by their platform
names, as pack code does, so their folder goes on the import path once, here, for every localsoc module.
"""

import sys
from pathlib import Path

PLATFORM_DOUBLES = str(Path(__file__).resolve().parents[1] / "platform_doubles")
if PLATFORM_DOUBLES not in sys.path:
    sys.path.append(PLATFORM_DOUBLES)

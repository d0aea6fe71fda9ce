"""An automation with a bug: an uncaught exception."""

import demistomock as demisto

demisto.results("before the crash")
raise KeyError("missing_field")

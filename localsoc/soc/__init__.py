"""Simulated SOC: scenario files and simulated XSOAR integrations answering the real commands.

Public API::

    load_scenario(path) -> Scenario            # validates against localsoc/schemas/scenario.schema.json
    Scenario.from_dict(data, source) -> Scenario
    SimulatedSOC(scenario, reputation_feed=None, clock=None)
        .dispatch(command, args) -> list[entry] | None
        .is_available(command) -> bool
        .snapshot() -> dict;  .undo(action_id);  .rollback_all();  .actions / .undo_log
"""

from localsoc.soc.reputation import IPReputation, ReputationService, count_to_dbot, default_feed_path, load_ipsum
from localsoc.soc.scenario import SCHEMA_PATH, Scenario, ScenarioError, load_scenario, validate_scenario
from localsoc.soc.simulator import BRANDS, COMMANDS, CommandSpec, SimulatedSOC, UndoConflict
from localsoc.soc.splunk import SplunkQueryError, parse_query, run_search
from localsoc.soc.timeutil import FixedClock

__all__ = [
    "BRANDS",
    "COMMANDS",
    "SCHEMA_PATH",
    "CommandSpec",
    "FixedClock",
    "IPReputation",
    "ReputationService",
    "Scenario",
    "ScenarioError",
    "SimulatedSOC",
    "SplunkQueryError",
    "UndoConflict",
    "count_to_dbot",
    "default_feed_path",
    "load_ipsum",
    "load_scenario",
    "parse_query",
    "run_search",
    "validate_scenario",
]

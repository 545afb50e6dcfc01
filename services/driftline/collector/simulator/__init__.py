"""A fleet of virtual sensors with scheduled drift and faults: a pure generator, Kafka only at the edge."""

from driftline.collector.simulator.generator import Emission, SimOptions, Simulation
from driftline.collector.simulator.scenarios import SCENARIOS, Scenario
from driftline.collector.simulator.schedule import DriftPoint, default_schedule

__all__ = ["SCENARIOS", "DriftPoint", "Emission", "Scenario", "SimOptions", "Simulation", "default_schedule"]

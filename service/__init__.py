"""Agent-RRM judge service: batched judgments of agent trajectories over HTTP, from an embedded vLLM engine."""

__version__ = "0.1.0"

"""Load tests for the judge service: a seeded workload generator and an HTTP load driver.

They know the service only through its HTTP API (``POST /judge``), never its internals.

- `workload` (presets, `build_requests`, ``python -m load_tests.workload``), built on `trajectory` and `text`;
- `driver` (`run_load(LoadConfig) -> Report`, ``python -m load_tests.driver``), with `config`, `results`,
  `report`, `stats`, `progress`, `target` (loopback-only rule) and `cli`;
- `fake_judge`: the judge's wire shape behind an httpx mock transport, for tests and the driver's own ceiling.
"""

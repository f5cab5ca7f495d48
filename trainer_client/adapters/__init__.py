"""Adapters for RL frameworks: TRL (`trl`), verl (`verl`), OpenRLHF (`openrlhf`), slime (`slime`), and the
stdlib HTTP server (`server`) that OpenRLHF and slime call. None of them imports its framework."""

"""The three-way judging benchmark behind ``python -m load_tests.benchmark``.

One run, per traffic shape (uniform, GRPO-shaped), on the same machine, model and prompts:

1. **engine ceiling** — vLLM's offline ``LLM.generate`` over the service's own rendered prompts (`ceiling`,
   run in a subprocess);
2. **this service** — ``POST /judge`` through the load driver, closed loop at rising concurrency, then an open
   loop at 70 % of the saturation rate (`runner`);
3. **the paper's way** — vLLM's OpenAI-compatible server, one chat-completion request per trajectory, at most 32
   in flight, score parsed client-side by regex (`paper`).

Every way starts in a fresh process per shape (`procs`), so no prefix cache or judgment cache carries over.
`profiles` holds the sizes (``demo``: the CPU run; ``smoke``: the CI run; ``gpu``: Qwen3-8B-sized), `prompts`
renders items exactly as the service does, `measure` holds the numbers and targets, `markdown` and `plots` write
the report, `pyspy` profiles the service while it is loaded.
"""

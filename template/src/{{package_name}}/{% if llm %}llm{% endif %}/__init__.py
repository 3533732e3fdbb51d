"""The LLM gateway: provider calls that survive slow and failing providers, within budget.

A chat request goes through, in order: token counting (413 before any upstream
call), tokens-per-minute limits, model routing, history trimming, the cost
reservation, then the gateway itself: each provider of the fallback chain in
turn, skipped while its circuit breaker is open, retried on transient
failures, all inside one deadline. See `docs/gates/llm.md` of the template.
"""

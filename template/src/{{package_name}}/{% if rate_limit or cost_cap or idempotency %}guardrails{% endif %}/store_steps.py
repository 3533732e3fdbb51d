"""Several gates' steps in one atomic store call.

A request that passes several gates in a row (the LLM chat: its rate limits,
its tokens per minute, its budget) would otherwise wait for one round trip
per gate. `run_steps` sends them as one script: each step is a gate's own
script with its own keys and arguments, run in order, and the first step that
refuses ends the call, so a later gate never charges a request an earlier one
refused. What the earlier steps charged stays charged, exactly as if each had
been its own call.

A step refuses by answering 0 as its first value, which every chained script
does: the rate limit's GCRA answers `allowed` first, the cost cap's
reservation `admitted`.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from .store import Argument, MemoryData, Reply, Script, Store

# How a chained script reads its arguments: a key count and an argument count
# per step, then every step's arguments in order. The reply: per step that ran,
# its reply's length, then the reply.
_CHAIN_LUA = """
local keys_at, args_at = 0, 2 * #steps
local reply = {}
for i = 1, #steps do
  local key_count, arg_count = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local answer = steps[i](
    {unpack(KEYS, keys_at + 1, keys_at + key_count)},
    {unpack(ARGV, args_at + 1, args_at + arg_count)})
  keys_at, args_at = keys_at + key_count, args_at + arg_count
  reply[#reply + 1] = #answer
  for j = 1, #answer do
    reply[#reply + 1] = answer[j]
  end
  if answer[1] == 0 then
    break
  end
end
return reply
"""


@dataclass(frozen=True, slots=True)
class Step:
    """One gate's script call, not yet made."""

    script: Script
    keys: tuple[str, ...]
    args: tuple[Argument, ...]


def _chained_lua(scripts: Sequence[Script]) -> str:
    # Each script's body becomes a function whose parameters shadow the global
    # KEYS and ARGV, so the body runs unchanged on its own slice of them.
    functions = "".join(
        f"steps[{n}] = function(KEYS, ARGV)\n{script.lua}\nend\n"
        for n, script in enumerate(scripts, start=1)
    )
    return "local steps = {}\n" + functions + _CHAIN_LUA


def _chained_local(
    scripts: tuple[Script, ...],
    data: MemoryData,
    keys: Sequence[str],
    args: Sequence[Argument],
    now_us: int,
) -> Reply:
    keys_at, args_at = 0, 2 * len(scripts)
    reply: Reply = []
    for n, script in enumerate(scripts):
        key_count, arg_count = int(args[2 * n]), int(args[2 * n + 1])
        answer = script.local(
            data,
            keys[keys_at : keys_at + key_count],
            args[args_at : args_at + arg_count],
            now_us,
        )
        keys_at, args_at = keys_at + key_count, args_at + arg_count
        reply += [len(answer), *answer]
        if answer[0] == 0:
            break
    return reply


@functools.cache
def chain(scripts: tuple[Script, ...]) -> Script:
    """One script that runs `scripts` in order, stopping at the first refusal."""
    return Script(
        name="+".join(script.name for script in scripts),
        lua=_chained_lua(scripts),
        local=functools.partial(_chained_local, scripts),
    )


def split_replies(reply: Reply, count: int) -> list[Reply | None]:
    """Each step's reply, or None for a step that did not run (an earlier one refused)."""
    replies: list[Reply | None] = []
    at = 0
    while at < len(reply):
        length = int(reply[at])
        replies.append(reply[at + 1 : at + 1 + length])
        at += 1 + length
    if at != len(reply) or not 0 < len(replies) <= count:
        message = f"a chain of {count} steps answered {len(reply)} values that do not split"
        raise ValueError(message)
    return replies + [None] * (count - len(replies))


async def run_steps(store: Store, steps: Sequence[Step | None]) -> list[Reply | None]:
    """Run `steps` atomically in one store call; see the module's docstring.

    A None step (a gate that is off, or has nothing to check) is skipped.
    Returns each step's reply in order: None for a skipped step, and for the
    steps after a refusal. No step at all: no store call.

    Raises:
        StoreUnavailableError: the call failed; as for any store call, whether
            the steps ran is not known.
    """
    present = [step for step in steps if step is not None]
    if not present:
        replies: list[Reply | None] = []
    elif len(present) == 1:
        (step,) = present
        replies = [await store.run(step.script, step.keys, step.args)]
    else:
        script = chain(tuple(step.script for step in present))
        counts = [count for step in present for count in (len(step.keys), len(step.args))]
        keys = [key for step in present for key in step.keys]
        args = [*counts, *(arg for step in present for arg in step.args)]
        replies = split_replies(await store.run(script, keys, args), len(present))
    answered = iter(replies)
    return [None if step is None else next(answered) for step in steps]

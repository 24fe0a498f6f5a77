"""The floor for terminal_bench: the openai SDK's stream printed as it arrives, nothing else.

Started by `terminal_bench.py --only floor` in the same pty against the same fake server; it
waits for Enter (as the app does) and then prints each delta. What this costs per chunk is
the least any client built on the SDK can spend.
"""

from __future__ import annotations

import asyncio
import sys


async def main(base_url: str) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="no-key-needed", max_retries=0)
    client.chat.completions  # noqa: B018 - the SDK imports these resources on first use
    print("Ask anything (floor)", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stream = await client.chat.completions.create(
        model="bench", messages=[{"role": "user", "content": "go"}], stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            sys.stdout.write(chunk.choices[0].delta.content)
            sys.stdout.flush()
    await asyncio.sleep(5)  # the harness measures idle time, then lets it go


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

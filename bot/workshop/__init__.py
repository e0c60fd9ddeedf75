"""The staff workshop in the chat: from a unit's result to chosen priorities to the plan.

`agenda` decides (the timer, votes, ranking) without I/O; `store` reads and writes the rows;
`views` says it; `chat` handles the commands, buttons and notes during the workshop; `ending`
the ranking, the plan items and the pack. `routes` adds them all to the engine's registry; `pulse` opens the follow-up round.
"""

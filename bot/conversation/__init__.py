"""One person's own conversation: taking an assessment (`assessment`, with `quick_answer` for the
commonest press), the state at a glance (`home`), and everyone's commands (`self_service`).

May import: the frame, `bot.intake`, `bot.directory`, `bot.results`.
"""

"""What follows an assessment over time: round reminders (`reminders`, `reminder_rules`), action
plans with their nudges and digests (`plans`), when the bot may speak first (`working_time`),
and the scheduler that writes what is due into the outbox (`scheduler`).

May import: the frame, `bot.intake`, `bot.directory`, `bot.conversation`, `bot.results`.
"""

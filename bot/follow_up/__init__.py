"""What follows an assessment over time: round reminders (`reminders`, `reminder_rules`); action
plans as the principal runs them (`plans`, `plan_changes`), as everyone reads them (`plan_items`),
what they send on their own (`plan_followups`) and what an owner sees (`my_actions`); when the bot
may speak first (`working_time`); how long answers are kept (`retention`); and the scheduler that
writes what is due into the outbox (`scheduler`).

May import: the frame, `bot.intake`, `bot.directory`, `bot.conversation`, `bot.results`.
"""

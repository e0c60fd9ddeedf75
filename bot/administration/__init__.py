"""What admins do in chat: the first admin and admin grants (`admins`), units and members
(`units`, `join_codes`), rounds and their invitations (`rounds`, `invitations`), instruments
(`instrument_admin`), and the keyword options of admin commands (`command_options`).

May import: the frame, `bot.directory`, `bot.follow_up`, `bot.conversation` (an invitation says how
long the assessment takes; closing a round abandons the unfinished responses) and
`bot.workshop.pulse` (a pulse round reads what the workshop chose).
"""

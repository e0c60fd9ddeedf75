"""What admins do in chat and on the command line: the first admin and admin grants (`admins`),
units and members (`units`, `join_codes`), rounds (`rounds`), instruments (`instrument_admin`),
and the keyword options of admin commands (`command_options`).

May import: the frame, `bot.directory`, `bot.conversation`, `bot.results`, `bot.follow_up`.
"""

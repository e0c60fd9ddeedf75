"""Who and what the bot knows: people and their platform identities (`people`), finding a person
named in a command (`person_lookup`), and the instruments (`catalogue`).

May import: the frame (not its entry points `engine`, `runtime`, `cli`).
"""

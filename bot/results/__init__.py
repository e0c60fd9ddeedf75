"""Results and every view of them: a person's own (`scoring`, `feedback`) and a unit's, made safe
to share (`publication` the rules, `step_sums` the SQL, `publication_store` the stored publication,
`reports` the unit report, `roll_up` a unit's subunits side by side, `pulse_change` a pulse
check's change), and their forms (`report_text`, `report_files`, `workshop_pack`, `charts`, the
chat commands in `unit_results`, the command line in `report_cli`).

May import: the frame and `bot.directory`.
"""

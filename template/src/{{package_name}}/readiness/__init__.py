"""The readiness scorecard: each launch gate scored 0-5 from evidence.

`launch_gates` names the ten gates and their minimums, `outcomes` reads and
writes the per-gate test outcomes the test suite records, `evidence` turns the
settings in force, the project's files and those outcomes into checks, and
`scorecard` scores the checks and renders the table.
"""

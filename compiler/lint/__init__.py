"""Policy checks of mailauth.yaml: the RFC rules, the SPF lookup budget, flattening problems.

Every rule has a stable ID (``SPF011``), a severity, the RFC section it comes from and a
fix (:mod:`.rules`; docs/rules.md lists them). :func:`.engine.lint` runs them on a built
model; :func:`.gate.policy_gate` is what plan and apply call, so an error stops them.
(The report-authorisation facts that build also needs live in compiler/dmarc_reports.py.)
"""

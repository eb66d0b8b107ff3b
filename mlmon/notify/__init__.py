"""Incidents and notifications: both monitoring jobs' findings → one incident per model, kept in the inference
store → one email thread (and a digest of input shifts without a symptom).

    findings   what a job hands over (Finding, Shift, Contribution)
    kinds      the kind of change, by rules over the signals
    summary    the structure every incident is told in: kind, symptoms, likely causes, top input shifts
    state      the incident state document (parts, incident, outbox, digest)
    policy     pure transitions of that state: when an email is due, cooldown, digest, outbox, leases
    tracker    what a job calls: compare-and-set in the store, then delivery of the outbox
    notice     one email to send; render, templates, chart, links: the email itself; email: SMTP delivery
"""

"""``mailauth import``: an existing, hand-made mail setup read into mailauth.yaml and a lock.

Readers (``dns_side``, ``mail_side``) each fill a ``Found`` from the host's files; the
``writer`` merges them, checks adopted keys against DNS, and writes the commented YAML and the
lock; ``check`` runs the first plan and sorts its differences. Nothing a reader cannot
represent is dropped: it becomes a ``Note``, listed in the output and in the file's comments.
"""

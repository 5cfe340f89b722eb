"""DKIM key rotation as a reviewed lifecycle: publish, prove, sign, retire, revoke, remove.

The state of every key lives in mailauth.lock (compiler/lockfile.py); mailauth.yaml holds
the first selectors and the policy. ``states`` reads the two together, ``machine`` holds
the pure transitions, ``effective`` turns the states into the selectors the build sees,
``live`` asks DNS before promote, and ``commands`` is what ``mailauth keys ...`` runs.
docs/key-rotation.md explains the design.
"""

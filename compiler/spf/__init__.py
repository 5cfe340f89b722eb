"""SPF (RFC 7208) as mailauth needs it before anything is published.

* :mod:`.syntax` reads a record into terms and says what is malformed;
* :mod:`.dnsview` answers the DNS questions an evaluation asks: from the model for the
  zones mailauth writes, from the committed cache for third parties, from DNS on request;
* :mod:`.budget` counts the DNS lookups of a record as a receiver would, as a tree;
* :mod:`.cache` is the committed cache file of third-party answers;
* :mod:`.flatten` turns opted-in includes into ip4/ip6 terms and ``_spfN`` records.
"""

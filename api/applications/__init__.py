"""Online applications: the procedure catalogue, ぴったり, drafts, card-signed submissions and the
municipality's inbox (issue 18)."""

"""Environment branches and promotion requests: the registry's pointers as Git branches too.

Tags stay the record (GTO, `dvc artifacts get`, hosts and the policy read them); with
`branches: {environments: true}` in gitmodel.yaml every pushed move also moves
`refs/heads/env/ENV/NAME` to the version's commit, in the same atomic push as its tag,
so tools that follow branches (Argo CD, Flux, CI triggers) see environments too.

    settings.py  the `branches:` section and the branch names (pure)
    push.py      the branch refspecs and leases a move's push carries
"""

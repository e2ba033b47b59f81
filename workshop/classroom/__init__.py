"""The classroom: one JupyterHub for a whole class, each learner walled off by the servers themselves.

``workshop classroom up --learners 12`` gives every learner a PostgreSQL role and
database, a RabbitMQ vhost and user and a Redis ACL user of its own, each with caps
(:mod:`.provision`), then starts JupyterHub (:mod:`.hub`) with accounts the
instructor issued (:mod:`.auth`), which hands each learner's Jupyter server — in
the learner's own, private Unix account (:mod:`.spawner`) — those credentials as
environment variables. See docs/classroom.md, whose security model lists the
attacks this is built against and the tests that perform them.
"""

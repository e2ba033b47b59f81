"""The classroom: one JupyterHub for a whole class, each learner walled off by the servers themselves.

``workshop classroom up --learners 12`` gives every learner a PostgreSQL role, a
RabbitMQ vhost and user and a Redis ACL user of its own (:mod:`.provision`),
then starts JupyterHub (:mod:`.hub`), which hands each learner's Jupyter server
those credentials as environment variables. See docs/classroom.md.
"""

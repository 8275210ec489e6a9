"""herbmorph as a DiSSCo machine annotation service (MAS), on RabbitMQ.

``herbmorph mas`` reads its configuration from the environment DiSSCo gives a MAS container
(:mod:`.config`), loads the models once, then for every job on ``RABBITMQ_QUEUE``: calls DiSSCo's
running endpoint, fetches the media's ``ac:accessURI`` through the public-URL guard
(:mod:`herbmorph.urlfetch`), measures the sheet in process, and publishes either
``{jobId, annotations}`` (openDS 0.4, :mod:`herbmorph.area.opends`) or ``{jobId, errorMessage}``
(:mod:`.jobs`), acknowledging the job only once the broker confirmed that publication
(:mod:`.consumer`).
"""

"""Topics a lower app fires and higher apps react to, in the same transaction, without the lower one importing
them (the apps' import order: tests/test_layers.py). Each app that fires keeps its own Hooks and names its topics
(registry/hooks.py, inventory/hooks.py); reactions are registered at start-up (AppConfig.ready). A reaction
that raises fails the change that fired it."""


class Hooks:
    def __init__(self):
        self.listeners = {}

    def on(self, topic, listener):
        listeners = self.listeners.setdefault(topic, [])
        if listener not in listeners:
            listeners.append(listener)

    def fire(self, topic, **kwargs):
        for listener in self.listeners.get(topic, ()):
            listener(**kwargs)

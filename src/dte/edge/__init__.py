"""The edge gateway (``dte edge``): sources -> operators -> durable buffer -> forwarder to the engine."""

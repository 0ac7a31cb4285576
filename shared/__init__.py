"""What Lifeline's services truly share: the event contract and the Kafka/outbox machinery."""

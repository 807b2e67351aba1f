"""Messages to people about their appointments: the activities that queue them into
the persons' outbox (`intake.person_messages`) and the sender that drains it over SMTP
or Brevo's SMS API."""

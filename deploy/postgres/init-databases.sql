-- One database per service: no service reads another's tables.
CREATE DATABASE intake;
CREATE DATABASE routing;
CREATE DATABASE payments;
CREATE DATABASE notifications;
CREATE DATABASE results;

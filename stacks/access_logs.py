"""Access-log settings for API Gateway v2 stages (the HTTP API and the WebSocket API share them)."""

from __future__ import annotations

import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogSettings:
    # IAccessLogSettings is a jsii interface, not a struct: a plain dict is rejected.
    def __init__(
        self, *, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format

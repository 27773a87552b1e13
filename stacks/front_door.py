"""One host for REST, WebSocket and the dashboard: a CloudFront distribution in front of both APIs.

The SDK derives its WebSocket URL from the base URL and connects to `{base}/api/v1/ws?token=...`.
API Gateway serves the WebSocket API on another host, and only at its stage root
(`wss://{id}.execute-api.{region}.amazonaws.com/live`), so without this distribution an SDK user
would have to set `ws_url`, and even then the SDK appends `/api/v1/ws`, which that host does not
serve. Here `/api/v1/ws` goes to the WebSocket API and everything else to the HTTP API, so
`https://{distribution}` works as the one base URL. Nothing is cached: every request is an API call.

Unverified against a real account (docs/deploy.md says so): CloudFront passes WebSocket upgrades
through, and the rewrite below is the documented way to reach a path the origin serves.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.nag import acknowledge

WEBSOCKET_PATH = "/api/v1/ws"
# The 4xx/5xx codes CloudFront caches (10 s by default, even under CachingDisabled) and lets a
# distribution configure: every other status is never cached.
CACHED_ERROR_CODES = (400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504)

EDGE_TOKEN_HEADER = "X-Spooled-Edge"  # shared/identity/rate_limits.py reads it


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def websocket_rewrite_code(stage_name: str) -> str:
    """A viewer-request function that sends `/api/v1/ws` to the stage root, `/{stage}`.

    An origin path alone cannot do it: CloudFront appends the viewer's path to the origin path
    (`/live/api/v1/ws`), and API Gateway accepts WebSocket connections only at the stage root. The
    query string (the client's token) is untouched and reaches the origin through the request policy.
    """
    return (
        "function handler(event) {\n"
        "  var request = event.request;\n"
        f"  request.uri = '/{stage_name}';\n"
        "  return request;\n"
        "}\n"
    )


class EdgeFrontDoor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        http_api_domain: str,
        websocket_api_domain: str,
        websocket_stage: str,
        edge_token: str,
        waf_rate_limit: int = 0,
    ) -> None:
        super().__init__(scope, construct_id)

        def origin(domain: str) -> origins.HttpOrigin:
            return origins.HttpOrigin(
                domain,
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                # Proves a request came through this distribution: only then does the API take the
                # client's address from CloudFront-Viewer-Address (shared/identity/rate_limits.py).
                custom_headers={EDGE_TOKEN_HEADER: edge_token},
            )

        # Passed through untouched: no caching (CachingDisabled also keeps the Authorization header
        # flowing), every viewer header but Host (API Gateway routes on its own host name), every
        # query string and cookie. No edge compression: bodies reach clients as the API wrote them.
        pass_through = {
            "cache_policy": cloudfront.CachePolicy.CACHING_DISABLED,
            "origin_request_policy": cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            "compress": False,
            # A plain-HTTP request is refused, not redirected: a redirected POST would lose its body.
            "viewer_protocol_policy": cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        }
        self.websocket_rewrite = cloudfront.Function(
            self,
            "WebSocketPath",
            code=cloudfront.FunctionCode.from_inline(websocket_rewrite_code(websocket_stage)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment=f"Spooled: {WEBSOCKET_PATH} -> WebSocket API stage root /{websocket_stage}",
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Spooled API: REST, WebSocket (/api/v1/ws) and dashboard on one host",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin(http_api_domain),
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                **pass_through,
            ),
            additional_behaviors={
                # A WebSocket handshake is a GET with Upgrade headers.
                WEBSOCKET_PATH: cloudfront.BehaviorOptions(
                    origin=origin(websocket_api_domain),
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                    function_associations=[
                        cloudfront.FunctionAssociation(
                            function=self.websocket_rewrite,
                            event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                        )
                    ],
                    **pass_through,
                )
            },
            # North America and Europe edges only: the cheapest class, and clients elsewhere still
            # connect (through a farther edge).
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            # The cache key is the path alone: a cached 5xx of one caller's GET, or a refused
            # /api/v1/ws handshake, would be served to every caller at that edge. Errors pass
            # through as the API answered them (no response page), cached for 0 s.
            error_responses=[
                cloudfront.ErrorResponse(http_status=code, ttl=cdk.Duration.seconds(0))
                for code in CACHED_ERROR_CODES
            ],
            web_acl_id=self._rate_based_web_acl(waf_rate_limit) if waf_rate_limit else None,
        )
        self._acknowledge(waf=bool(waf_rate_limit))

    def _rate_based_web_acl(self, limit: int) -> str:
        """One rule: a client address sending more than `limit` requests in 5 minutes is blocked
        at the edge (docs/deploy.md "Rate limits"). Everything else is allowed."""
        self.web_acl = wafv2.CfnWebACL(
            self,
            "RateLimit",
            scope="CLOUDFRONT",
            description="Spooled: per-address rate limit in front of the API",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("SpooledWebAcl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="PerAddressRateLimit",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=limit, evaluation_window_sec=300
                        )
                    ),
                    visibility_config=_visibility("PerAddressRateLimit"),
                )
            ],
        )
        return self.web_acl.attr_arn

    @property
    def domain_name(self) -> str:
        return self.distribution.distribution_domain_name

    def _acknowledge(self, waf: bool) -> None:
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "A job-queue API serves producers and workers wherever the customer runs them; a "
            "country allow- or deny-list is the customer's policy to add, not a default. Every "
            "request is still authenticated by the API (API key or JWT).",
        )
        if not waf:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR2",
                "AWS WAF costs at least $5 a month per web ACL plus $1 per rule even when idle, "
                "which more than doubles the stack's idle cost (~$3.50); both APIs behind this "
                "distribution have stage throttling and per-organization and per-address limits, and "
                "authenticate "
                "every call. `-c waf_rate_limit=N` adds a rate-based web ACL (docs/deploy.md).",
            )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR3",
            "CloudFront access logs would record the full query string of every WebSocket "
            "handshake, which carries the client's API key or JWT (?token=, the SDK's only way to "
            "authenticate a browser socket). Both API Gateway stages already write JSON access "
            "logs of every request, without query strings.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR4",
            "The distribution uses its default *.cloudfront.net certificate, for which CloudFront "
            "fixes the viewer security policy itself (TLSv1 minimum); a higher minimum needs a "
            "custom domain with an ACM certificate, which the operator adds (docs/deploy.md). "
            "Origins are reached over TLS 1.2 only.",
        )

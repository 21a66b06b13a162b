/**
 * Handler of the AppConfig cleanup custom resource (cdk/appconfig-cleanup.ts), deployed as this file's
 * text (inline code): CommonJS, nothing but the AWS SDK v3 of the nodejs22.x runtime.
 *
 * When the stack is deleted, it deletes every hosted configuration version of the profile, so that
 * CloudFormation can delete the profile next (AppConfig refuses while versions remain, and the stack
 * retains each version). Create and Update do nothing. A Delete while the stack itself is not being
 * deleted (this resource renamed or removed by an update, or an update that created it rolling back)
 * keeps the versions: they are the live profile's rollback targets.
 *
 * It answers CloudFormation itself, on the request's pre-signed ResponseURL, and always answers.
 */
'use strict';
const {
  AppConfigClient,
  DeleteHostedConfigurationVersionCommand,
  ListHostedConfigurationVersionsCommand,
} = require('@aws-sdk/client-appconfig');
const { CloudFormationClient, DescribeStacksCommand } = require('@aws-sdk/client-cloudformation');

/** Stack statuses in which all of the stack's resources are being deleted. */
const STACK_DELETING = new Set(['DELETE_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS']);
/** Stop deleting with this much time left, so CloudFormation still gets its answer. */
const RESERVE_MS = 15_000;

const appConfig = new AppConfigClient({});
const cloudFormation = new CloudFormationClient({});

const isNotFound = (error) => error?.name === 'ResourceNotFoundException';

async function versionNumbers(profile) {
  const numbers = [];
  let NextToken;
  do {
    const page = await appConfig.send(new ListHostedConfigurationVersionsCommand({ ...profile, NextToken }));
    for (const item of page.Items ?? []) numbers.push(item.VersionNumber);
    NextToken = page.NextToken;
  } while (NextToken);
  return numbers;
}

async function deleteVersions({ ApplicationId, ConfigurationProfileId }, context) {
  const profile = { ApplicationId, ConfigurationProfileId };
  let numbers;
  try {
    // every page first: deleting while paging could shift the pages under the token
    numbers = await versionNumbers(profile);
  } catch (error) {
    if (isNotFound(error)) return 'the profile is already gone';
    throw error;
  }
  let deleted = 0;
  for (const VersionNumber of numbers) {
    if (context.getRemainingTimeInMillis() < RESERVE_MS) {
      throw new Error(`out of time, ${numbers.length - deleted} of ${numbers.length} versions left: delete again`);
    }
    try {
      await appConfig.send(new DeleteHostedConfigurationVersionCommand({ ...profile, VersionNumber }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    deleted += 1;
  }
  return `${numbers.length} hosted configuration versions deleted or already gone`;
}

async function outcome(event, context) {
  if (event.RequestType !== 'Delete') return `nothing to do on ${event.RequestType}`;
  const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: event.StackId }));
  const status = Stacks?.[0]?.StackStatus;
  if (!STACK_DELETING.has(status)) return `the stack is ${status}, not being deleted: versions kept`;
  return deleteVersions(event.ResourceProperties, context);
}

async function respond(event, Status, reason) {
  const body = JSON.stringify({
    Status,
    Reason: reason.slice(0, 1000),
    PhysicalResourceId: event.PhysicalResourceId ?? `${event.LogicalResourceId}-${event.RequestId}`,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
  // a byte body: fetch adds no Content-Type, which the pre-signed URL was not signed with
  const response = await fetch(event.ResponseURL, { method: 'PUT', body: Buffer.from(body) });
  if (!response.ok) throw new Error(`CloudFormation refused the response: HTTP ${response.status}`);
}

exports.handler = async (event, context) => {
  let status = 'SUCCESS';
  let reason;
  try {
    reason = await outcome(event, context);
  } catch (error) {
    status = 'FAILED';
    reason = `${error?.name}: ${error?.message}`;
  }
  console.log(JSON.stringify({ requestType: event.RequestType, status, reason }));
  await respond(event, status, reason);
};

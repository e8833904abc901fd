import type { GroupMembership, GroupRef, Identity } from '../../src/types.js';

/** A hand-built identity (the token verifier is tested elsewhere). */
export function identity(overrides: Partial<Identity> = {}): Identity {
  return {
    email: 'suwatch@microsoft.com',
    name: 'Suwat Bodin',
    user_uuid: 'a62060da-1ae3-44eb-8988-1197a68ff41e',
    idp: { id: 'azureAD', type: 'azureAD' },
    amr: ['wia', 'mfa'],
    groups: [] as GroupRef[],
    membership: { state: 'absent' } as GroupMembership,
    oidc_fields: {},
    oid: 'a62060da-1ae3-44eb-8988-1197a68ff41e',
    tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    sub: 'Utz16TA818mDmCwo48J-GlfQmu3uOEDrh-1ajBwe8L4',
    iat: 1575791738,
    exp: 1575795638,
    ver: '1.0',
    ...overrides,
  };
}

/** The real v1 access token payload with overage, verbatim from the reference (§1.7). */
export const V1_OVERAGE_CLAIMS: Record<string, unknown> = JSON.parse(
  '{"aud":"https://management.core.windows.net/","iss":"https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/","iat":1575791738,"nbf":1575791738,"exp":1575795638,"_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/users/a62060da-1ae3-44eb-8988-1197a68ff41e/getMemberObjects"}},"acr":"1","aio":"AVQAq/8NAAAA0NQC8jkv1YNUiGii8tr38nUIzxaOGEFwRiAVnU1QiGe5Ih5YMgYD2zkZ23+PPQx8dfcyBZ3V3EV5pUlrs0UejS2ei/o7OFbHJuLyeM4uOq8=","amr":["wia","mfa"],"appid":"1950a258-227b-4e31-a9cf-717495945fc2","appidacr":"0","deviceid":"f18012e4-9d3d-4f0f-ac63-3dc0330a3646","family_name":"Bodin","given_name":"Suwat","in_corp":"true","ipaddr":"131.107.159.63","name":"Suwat Bodin","oid":"a62060da-1ae3-44eb-8988-1197a68ff41e","onprem_sid":"S-1-5-21-2127521184-1604012920-1887927527-67557","puid":"10030000801C20D4","scp":"user_impersonation","sub":"Utz16TA818mDmCwo48J-GlfQmu3uOEDrh-1ajBwe8L4","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","unique_name":"suwatch@microsoft.com","upn":"suwatch@microsoft.com","uti":"H_HhFZSIGkeQUM1BYOghAA","ver":"1.0"}',
) as Record<string, unknown>;

/** A v2 token with the overage marker as the claims reference shows it (Microsoft Graph endpoint). */
export const V2_OVERAGE_CLAIMS: Record<string, unknown> = {
  aud: '6e74172b-be56-4843-9ff4-e66a39bb12e3',
  iss: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
  oid: 'a62060da-1ae3-44eb-8988-1197a68ff41e',
  tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  preferred_username: 'suwatch@microsoft.com',
  _claim_names: { groups: 'src1' },
  _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/a62060da-1ae3-44eb-8988-1197a68ff41e/getMemberObjects' } },
  ver: '2.0',
};

/** Implicit flow: `hasgroups` replaces the claim. */
export const HASGROUPS_CLAIMS: Record<string, unknown> = {
  oid: 'a62060da-1ae3-44eb-8988-1197a68ff41e',
  tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  hasgroups: true,
  ver: '2.0',
};
